// Package nlp is siyu's intent recognition: a small classifier over
// hashed character n-grams, trained with spago from examples kept in
// knowledge/<dataset>/train/<label>.txt (see Train, ReadDataset) and run
// without spago in a couple of microseconds (see Model.Classify); the
// engine's layer-1 Analyzer that fills Turn.Intent; and the layer-5
// stages Handover (human_agent → a StaffAlert and a reply) and FAQStage
// (written-down questions matched by similarity), configured by the
// scripts' intents: and faq: sections. The same trainer serves other
// datasets (bot/risk's).
package nlp
