"""The chips themselves: boot and health, speed vs voltage, fuses, HBM stacks."""
