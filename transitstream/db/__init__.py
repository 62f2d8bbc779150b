"""The read side's database: connections and versioned schema migrations."""
