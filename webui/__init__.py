"""The self-care portal: layout, branding, login and the core sections (a plugin of the core)."""
