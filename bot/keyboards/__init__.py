"""CallbackData factories and keyboard builders, one module per capability."""
