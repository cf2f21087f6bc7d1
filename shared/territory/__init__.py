"""The territory of the protection network: the 12-digit code of a node (`code`) and the
registry of the nodes that exist, with their names (`registry`)."""
