"""Labs: small models that let one primitive be studied alone, each a scenario section."""
