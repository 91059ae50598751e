"""The feed-forward engine (Ghiasi et al.'s arbitrary style transfer, run with onnxruntime):
a render in well under a second, of preview quality, and the optimiser's head start."""
