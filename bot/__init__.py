"""The application: configuration, services, scheduler, templates, middlewares, keyboards."""

from bot import lazy_models

lazy_models.install()  # before anything imports aiogram (see bot/lazy_models.py)
