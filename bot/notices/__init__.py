"""Words and buttons for what the bot sends on its own (per recipient and language); the rules live in
bot/services. New capabilities put their notices here (see issue 11's architecture)."""
