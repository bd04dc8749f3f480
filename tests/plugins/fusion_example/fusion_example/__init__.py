"""The example connector of docs/plugin-hooks.md; Fusion's tests prove every hook with it."""
