"""Stage 4, site: pages, web images and static files from the gallery, its plan and the cache. Never renders."""
