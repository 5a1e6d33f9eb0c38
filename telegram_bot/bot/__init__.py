"""The bot: routers and handlers, middlewares, and the factories that assemble them."""
