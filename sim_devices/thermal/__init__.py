"""Heat: the RC network of every chip, the coolant loop or fans, throttling."""
