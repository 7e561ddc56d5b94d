package main

// dndCapability wires bot/dnd: not built yet.
func dndCapability() capability { return capability{name: "dnd"} }
