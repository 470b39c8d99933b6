"""genzoo's built-in plugins: one module per architecture (and one for the torchvision datasets).

Each module is its own entry point in genzoo's ``pyproject.toml`` (group ``zoo``), found exactly as a
third-party plugin is; zoo's core never imports them. They use only zoo's public API: ``zoo``, ``zoo.layers``
and ``zoo.gan``.
"""
