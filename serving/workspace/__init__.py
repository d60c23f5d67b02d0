"""The team workspace: who works which denial, what they did, and the pre-release review of risky claims."""
