package main

import (
	"context"
	"errors"
)

// nlpCapability wires bot/nlp: not built yet.
func nlpCapability() capability { return capability{name: "nlp"} }

// cmdTrain is `siyu train`: not built yet.
func cmdTrain(context.Context, runEnv) error { return errors.New("train: not built yet") }

// cmdClassify is `siyu classify`: not built yet.
func cmdClassify(context.Context, runEnv) error { return errors.New("classify: not built yet") }
