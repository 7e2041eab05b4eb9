"""Browser pages: Django templates, plain ES modules and CSS; no build step."""
