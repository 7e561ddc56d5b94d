package main

// checkinCapability wires bot/checkin: not built yet.
func checkinCapability() capability { return capability{name: "checkin"} }
