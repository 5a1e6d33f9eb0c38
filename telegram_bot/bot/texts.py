"""What the bot says, in one place."""

from aiogram.types import BotCommand

COMMANDS = (
    BotCommand(command="start", description="Register and say hello"),
    BotCommand(command="help", description="What this bot can do"),
)


def welcome(first_name: str) -> str:
    return f"Welcome, {first_name}! You are registered. Send /help to see what I can do."


def welcome_back(first_name: str) -> str:
    return f"Welcome back, {first_name}!"


HELP = "Here is what I understand:\n" + "\n".join(f"/{c.command} - {c.description}" for c in COMMANDS)
HINT = "I don't know that one yet. Send /help to see what I can do."
FAILED = "Sorry, something went wrong on my side. Please try again later."
UNAVAILABLE = "I can't reach my database right now. Please send that again in a minute."
