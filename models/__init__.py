"""Model presets: TOML files that ``neurosim train NAME`` and :func:`neurosim.load_config` read."""
