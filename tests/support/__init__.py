"""Test support shared by every level: the emulator plugin, stream counting, item builders, subprocess environments,
and the fault and capacity models that stand in for what DynamoDB Local lacks."""
