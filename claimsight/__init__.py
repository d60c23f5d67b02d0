"""The application shell: settings and the command line. Thin wrappers over the layers' functions."""
