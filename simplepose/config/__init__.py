"""Configuration: the typed presets and sections, loading from YAML with overrides, and
``model.json``, the description of an exported model."""
