package nlp

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/nlpodyssey/spago/ag"
	"github.com/nlpodyssey/spago/losses"
	"github.com/nlpodyssey/spago/mat"
	"github.com/nlpodyssey/spago/mat/float"
	"github.com/nlpodyssey/spago/nn"
	"github.com/nlpodyssey/spago/nn/embedding"
	"github.com/nlpodyssey/spago/optimizers/adam"

	"github.com/siyu-bot/siyu/bot"
)

// TrainConfig sets how Train trains. Zero fields take the defaults.
type TrainConfig struct {
	Dim          int     // embedding size; default 64
	Hidden       int     // hidden ReLU layer size; 0: none (linear)
	Epochs       int     // default 12
	Batch        int     // examples per update; default 16
	LearningRate float64 // Adam step size; default 0.01
	// FeatureDropout drops each feature of a training example with this
	// probability, so the model does not lean on one n-gram; default 0.1,
	// negative for none.
	FeatureDropout float64
	// LabelSmoothing moves this much of the target's probability to the
	// other labels: confidences spread out (wrong answers fall below 0.7
	// more often) at some cost in accuracy; 0: none. Measured on the
	// intents' held-out set: 0.1 takes accuracy from 0.953 to 0.925.
	LabelSmoothing float64
	Seed           uint64
	// MinCount drops the features found in fewer training lines than
	// this: a feature seen once (a long post's rare trigrams) costs a
	// row of the model and says little; 0 or 1: keep every feature.
	MinCount int
	// Valid, when set, is measured after every epoch (accuracy in
	// Progress); it is never trained on.
	Valid []Example
	// Progress, when set, is told about every epoch.
	Progress func(EpochStats)
}

// EpochStats reports one epoch of training.
type EpochStats struct {
	Epoch, Epochs int
	Loss          float64 // mean cross-entropy over the epoch's examples
	ValidAccuracy float64 // on TrainConfig.Valid; 0 without it
}

func (c *TrainConfig) defaults() {
	if c.Dim <= 0 {
		c.Dim = 64
	}
	if c.Epochs <= 0 {
		c.Epochs = 12
	}
	if c.Batch <= 0 {
		c.Batch = 16
	}
	if c.LearningRate <= 0 {
		c.LearningRate = 0.01
	}
	if c.FeatureDropout == 0 {
		c.FeatureDropout = 0.1
	}
}

// network is the model while spago trains it.
type network struct {
	nn.Module
	Emb    *embedding.Model
	W1, B1 *nn.Param // nil without a hidden layer
	W2, B2 *nn.Param
}

// Train trains a new model on examples with spago (autograd and Adam)
// and returns it in its inference form. The labels are those of the
// examples, sorted. For a seed, training sees the same lines in the same
// order; spago's float sums are not bit-reproducible, so two trainings
// differ in the last digits of their weights (see the README).
//
// spago v1.1.0 has pitfalls Train avoids: its Optimizer.Optimize returns
// before its goroutines finish, so Train updates each parameter itself
// (nn.ForEachParam + Adam.OptimizeParams) and calls Adam.IncExample;
// embedding rows start at zero, so Train initialises them; nothing is
// saved with gob, so no optimizer state leaks into the model file; and a
// model is always trained fresh, never from a loaded table.
func Train(ctx context.Context, examples []Example, cfg TrainConfig) (*Model, error) {
	cfg.defaults()
	if cfg.Dim > maxStack || cfg.Hidden > maxStack {
		return nil, fmt.Errorf("nlp.Train: dim and hidden must be at most %d: %w", maxStack, bot.ErrInvalid)
	}
	var labels []string
	for _, e := range examples {
		if !slices.Contains(labels, e.Label) {
			labels = append(labels, e.Label)
		}
	}
	slices.Sort(labels)
	if len(labels) < 2 {
		return nil, fmt.Errorf("nlp.Train: %d labels, want two or more: %w", len(labels), bot.ErrInvalid)
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x5452_4149))

	// Features → rows: only features seen in training (in MinCount
	// lines or more) get a row.
	type sample struct {
		rows  []int
		label int
	}
	var count map[uint32]int
	if cfg.MinCount > 1 {
		count = map[uint32]int{}
		var buf []uint32
		for _, e := range examples {
			buf = appendFeatures(buf[:0], Canonical(e.Text))
			slices.Sort(buf)
			for i, f := range buf {
				if i == 0 || f != buf[i-1] {
					count[f]++
				}
			}
		}
	}
	rowOf := map[uint32]int{}
	var feats []uint32
	samples := make([]sample, 0, len(examples))
	for _, e := range examples {
		s := sample{label: slices.Index(labels, e.Label)}
		for _, f := range appendFeatures(nil, Canonical(e.Text)) {
			if f == 0 || count != nil && count[f] < cfg.MinCount {
				continue
			}
			r, ok := rowOf[f]
			if !ok {
				r = len(feats)
				rowOf[f] = r
				feats = append(feats, f)
			}
			s.rows = append(s.rows, r)
		}
		samples = append(samples, s)
	}
	if len(feats) == 0 {
		return nil, fmt.Errorf("nlp.Train: no features in the examples: %w", bot.ErrInvalid)
	}

	net := newNetwork(rng, len(feats), cfg.Dim, cfg.Hidden, len(labels))
	opt := adam.New(adam.NewConfig(cfg.LearningRate, 0.9, 0.999, 1e-8))
	order := make([]int, len(samples))
	for i := range order {
		order[i] = i
	}
	for epoch := 1; epoch <= cfg.Epochs; epoch++ {
		rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		var total float64
		for start := 0; start < len(order); start += cfg.Batch {
			if err := ctx.Err(); err != nil {
				return nil, fmt.Errorf("nlp.Train: %w", err)
			}
			batch := order[start:min(start+cfg.Batch, len(order))]
			var ls []mat.Tensor
			for _, i := range batch {
				rows := dropout(rng, samples[i].rows, cfg.FeatureDropout)
				if len(rows) == 0 {
					continue
				}
				ls = append(ls, smoothedCrossEntropy(net.forward(rows), samples[i].label, len(labels), cfg.LabelSmoothing))
			}
			if len(ls) == 0 {
				continue
			}
			loss := ag.Sum(ls...)
			if err := ag.Backward(ag.DivScalar(loss, mat.Scalar(float32(len(ls))))); err != nil {
				return nil, fmt.Errorf("nlp.Train backward: %w", err)
			}
			total += loss.Value().Item().F64()
			opt.IncExample()
			var updateErr error
			nn.ForEachParam(net, func(p *nn.Param) {
				if p == nil || !p.HasGrad() || updateErr != nil {
					return
				}
				updateErr = opt.OptimizeParams(p)
			})
			net.Emb.ZeroGrad()
			if updateErr != nil {
				return nil, fmt.Errorf("nlp.Train update: %w", updateErr)
			}
		}
		st := EpochStats{Epoch: epoch, Epochs: cfg.Epochs, Loss: total / float64(len(samples))}
		if cfg.Progress != nil {
			if len(cfg.Valid) > 0 {
				m := net.model(labels, feats, cfg)
				st.ValidAccuracy = Evaluate(labels, cfg.Valid, func(t string) string { l, _ := m.Classify(Canonical(t)); return l }).Accuracy
			}
			cfg.Progress(st)
		}
	}
	return net.model(labels, feats, cfg), nil
}

// smoothedCrossEntropy is the cross-entropy of logits against a target
// that gives label 1-eps+eps/k and every label eps/k.
func smoothedCrossEntropy(logits mat.Tensor, label, k int, eps float64) mat.Tensor {
	if eps <= 0 {
		return losses.CrossEntropy(logits, label)
	}
	logp := ag.LogSoftmax(logits)
	gold := ag.ProdScalar(ag.At(logp, label), mat.Scalar(float32(1-eps)))
	all := ag.ProdScalar(ag.ReduceSum(logp), mat.Scalar(float32(eps/float64(k))))
	return ag.Neg(ag.Add(gold, all))
}

// dropout returns rows without each one dropped with probability p.
func dropout(rng *rand.Rand, rows []int, p float64) []int {
	if p <= 0 {
		return rows
	}
	out := make([]int, 0, len(rows))
	for _, r := range rows {
		if rng.Float64() >= p {
			out = append(out, r)
		}
	}
	if len(out) == 0 {
		return rows
	}
	return out
}

func newNetwork(rng *rand.Rand, rows, dim, hidden, labels int) *network {
	uniform := func(n int, scale float64) []float32 {
		out := make([]float32, n)
		for i := range out {
			out[i] = float32((rng.Float64()*2 - 1) * scale)
		}
		return out
	}
	param := func(shape []int, data []float32) *nn.Param {
		return nn.NewParam(mat.NewDense[float32](mat.WithShape(shape...), mat.WithBacking(data)))
	}
	n := &network{Emb: embedding.New[float32](rows, dim)}
	// Embedding rows start at zero in spago: give each a small random
	// value, as fastText does (uniform in ±1/dim).
	for _, w := range n.Emb.Weights {
		w.SetData(float.Make(uniform(dim, 1/float64(dim))...))
	}
	in := dim
	if hidden > 0 {
		n.W1 = param([]int{hidden, dim}, uniform(hidden*dim, math.Sqrt(6/float64(hidden+dim))))
		n.B1 = param([]int{hidden}, make([]float32, hidden))
		in = hidden
	}
	n.W2 = param([]int{labels, in}, uniform(labels*in, math.Sqrt(6/float64(labels+in))))
	n.B2 = param([]int{labels}, make([]float32, labels))
	return n
}

// forward returns the logits for a message with these feature rows.
func (n *network) forward(rows []int) mat.Tensor {
	xs := n.Emb.MustEncode(rows)
	x := xs[0]
	if len(xs) > 1 {
		x = ag.Mean(xs)
	}
	if n.W1 != nil {
		x = ag.ReLU(ag.Affine(n.B1, n.W1, x))
	}
	return ag.Affine(n.B2, n.W2, x)
}

// model copies the network's weights into the inference form.
func (n *network) model(labels []string, feats []uint32, cfg TrainConfig) *Model {
	m := &Model{labels: slices.Clone(labels), dim: cfg.Dim, hidden: cfg.Hidden, rows: len(feats), temp: 1}
	m.emb = make([]float32, 0, len(feats)*cfg.Dim)
	for _, w := range n.Emb.Weights {
		m.emb = append(m.emb, w.Data().F32()...)
	}
	if n.W1 != nil {
		m.w1 = slices.Clone(n.W1.Data().F32())
		m.b1 = slices.Clone(n.B1.Data().F32())
	}
	m.w2 = slices.Clone(n.W2.Data().F32())
	m.b2 = slices.Clone(n.B2.Data().F32())
	m.fold(m.emb)
	m.index(feats)
	return m
}
