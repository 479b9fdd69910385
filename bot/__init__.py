"""The application: configuration, services, scheduler, templates, middlewares, keyboards."""
