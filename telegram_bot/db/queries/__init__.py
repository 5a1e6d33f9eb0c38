"""The statements the bot runs: one module per table."""
