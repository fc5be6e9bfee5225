"""From notebooks to the book: the papermill runner, the generated page parts, the book build,
the command line and the Sphinx extension."""
