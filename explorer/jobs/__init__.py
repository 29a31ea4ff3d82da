"""Jobs beyond one request: large runs on a distributed engine (Ray), resumable, writing what the single-machine
path writes."""
