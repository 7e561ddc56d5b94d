package main

// riskCapability wires bot/risk: not built yet.
func riskCapability() capability { return capability{name: "risk"} }
