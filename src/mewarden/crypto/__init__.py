"""The org vault: envelope encryption of AMT credentials under the org key."""
