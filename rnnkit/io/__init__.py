"""Weight files, model configs and converters from other frameworks' layouts."""
