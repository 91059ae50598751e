"""The shared vocabulary every stage speaks: the gallery model, the render-parameter table and
its presets, the engines' weights identities and image loading. It imports no stage (only
pipeline.util), so manifest, plan, render and site can all build on it."""
