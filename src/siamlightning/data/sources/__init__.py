"""On-disk layouts, one module each; every module defines ``load(root, split=None, **options)``."""
