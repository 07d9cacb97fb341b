"""PCIe endpoints and mesh ports, their SerDes lanes, PRBS tests and link timelines."""
