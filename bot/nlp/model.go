package nlp

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"

	"github.com/siyu-bot/siyu/bot"
)

// Model is a trained classifier: the mean of the embeddings of a
// message's hashed n-gram features, then an optional hidden ReLU layer,
// then a linear layer and a softmax over the labels. It is immutable and
// safe for concurrent use.
//
// Inference does not use spago's graph: summing embedding rows and one or
// two matrix-vector products in float32 give the same answer about ten
// times faster, without allocating (spago trains the model; see Train).
// Without a hidden layer the model is linear, W (Σ rows / n) + b =
// (Σ W row) / n + b, so each row is kept folded through W: a message
// sums one number per label and feature instead of dim.
type Model struct {
	labels []string
	dim    int
	hidden int // 0: no hidden layer
	rows   int // features (embedding rows)
	// slots is an open-addressing table from feature hash to embedding
	// row; key 0 marks an empty slot (hash 0 is never stored). Key and
	// row side by side: one cache line per lookup.
	slots []slot
	// emb is rows × dim: what Train learnt (Save writes it rounded to
	// int8), and what a model with a hidden layer reads. nil in a linear
	// model loaded from a file: its folded rows are all it needs.
	emb []float32
	// folded is rows × labels in a linear model: W times each embedding
	// row (see fold). nil with a hidden layer.
	folded []float32
	w1     []float32 // hidden × dim
	b1     []float32 // hidden
	w2     []float32 // labels × in (in = hidden, or dim without hidden layer); nil in a loaded linear model
	b2     []float32 // labels
	// temp divides the logits before the softmax (temperature scaling):
	// fitted after training on the split kept apart (FitTemperature), it
	// makes confidences match how often the model is right. 1: as trained.
	temp float32
	// sure holds, per label, the least calibrated confidence at which
	// the label was right at least 99% of the time on text from sources
	// the model never learned from (FitSureThresholds); above 1, or nil:
	// never sure on its own.
	sure []float32
}

// neverSure is the sure threshold of a label that no confidence makes
// sure.
const neverSure = 2

// SureThreshold returns the least confidence at which the model's label
// was right at least 99% of the time on leave-one-source-out text, and
// false when no confidence was (or the model file has no thresholds, as
// before format version 4). Anything that changes a customer's state or
// alerts staff on the model's word alone should ask for it.
func (m *Model) SureThreshold(label string) (float64, bool) {
	i := slices.Index(m.labels, label)
	if i < 0 || m.sure == nil || m.sure[i] > 1 {
		return 0, false
	}
	return float64(m.sure[i]), true
}

// IsSure reports whether confidence, a calibrated confidence of this
// model for label, reaches the label's sure threshold.
func (m *Model) IsSure(label string, confidence float64) bool {
	t, ok := m.SureThreshold(label)
	return ok && confidence >= t
}

// WithSureThresholds returns a copy of the model (sharing its weights)
// with these sure thresholds, by label; a label without one is never
// sure. Thresholds belong to a temperature: set them after
// WithTemperature.
func (m *Model) WithSureThresholds(th map[string]float64) *Model {
	c := *m
	c.sure = make([]float32, len(m.labels))
	for i, l := range m.labels {
		c.sure[i] = neverSure
		if t, ok := th[l]; ok && t > 0 && t <= 1 {
			c.sure[i] = float32(t)
		}
	}
	return &c
}

// Temperature returns the temperature the model's logits are divided by
// before the softmax (1: uncalibrated).
func (m *Model) Temperature() float64 { return float64(m.temp) }

// WithTemperature returns a copy of the model (sharing its weights) that
// divides its logits by t before the softmax. Labels are unchanged: only
// the confidences move.
func (m *Model) WithTemperature(t float64) *Model {
	c := *m
	c.temp = float32(t)
	if !(c.temp > 0) || math.IsInf(t, 0) {
		c.temp = 1
	}
	return &c
}

// Labels returns the model's labels, sorted.
func (m *Model) Labels() []string { return slices.Clone(m.labels) }

// Features returns the number of features (embedding rows) the model
// knows.
func (m *Model) Features() int { return m.rows }

type slot struct {
	key uint32
	row int32
}

// maxStack bounds the dimensions whose work vectors live on the stack.
const maxStack = 128

// Classify returns the most likely label of text (already in Canonical
// form) and its probability. A text with no known feature gets the label
// the model prefers without evidence, usually with a low probability.
func (m *Model) Classify(text string) (label string, confidence float64) {
	var zBuf [maxStack]float32
	z := stackOr(zBuf[:], len(m.labels))
	m.logits(text, z)
	best := 0
	for i, v := range z {
		if v > z[best] {
			best = i
		}
	}
	inv := float64(1 / m.temp)
	var sum float64
	for _, v := range z {
		sum += math.Exp(float64(v-z[best]) * inv)
	}
	return m.labels[best], 1 / sum
}

// ClassifyOther returns the most likely label of text (already in
// Canonical form) other than background, and the probability that text
// is not background at all: the sum over every other label, after the
// temperature. A detector asks this ("how likely is any risk, and which")
// rather than Classify's best label, whose confidence splits when two
// risky labels share the evidence. A background the model does not know
// gives Classify's answer.
func (m *Model) ClassifyOther(text, background string) (label string, confidence float64) {
	bg := slices.Index(m.labels, background)
	if bg < 0 {
		return m.Classify(text)
	}
	var zBuf [maxStack]float32
	z := stackOr(zBuf[:], len(m.labels))
	m.logits(text, z)
	hi, best := z[0], -1
	for i, v := range z {
		hi = max(hi, v)
		if i != bg && (best < 0 || v > z[best]) {
			best = i
		}
	}
	inv := float64(1 / m.temp)
	var sum float64
	for _, v := range z {
		sum += math.Exp(float64(v-hi) * inv)
	}
	return m.labels[best], 1 - math.Exp(float64(z[bg]-hi)*inv)/sum
}

// logits sets z (one per label) to the model's scores for text, before
// the temperature and the softmax.
func (m *Model) logits(text string, z []float32) {
	var featBuf [3 * maxFeatureRunes]uint32
	feats := appendFeatures(featBuf[:0], text)
	if m.folded != nil {
		m.linearLogits(feats, z)
		return
	}
	var xBuf, hBuf [maxStack]float32
	x := stackOr(xBuf[:], m.dim)
	clear(x)
	n := 0
	for _, f := range feats {
		r := m.row(f)
		if r < 0 {
			continue
		}
		row := m.emb[int(r)*m.dim : int(r+1)*m.dim]
		for i, v := range row {
			x[i] += v
		}
		n++
	}
	if n > 0 {
		inv := 1 / float32(n)
		for i := range x {
			x[i] *= inv
		}
	}
	in := x
	if m.hidden > 0 {
		h := stackOr(hBuf[:], m.hidden)
		affine(h, m.w1, m.b1, x)
		for i, v := range h {
			if v < 0 {
				h[i] = 0
			}
		}
		in = h
	}
	affine(z, m.w2, m.b2, in)
}

// linearLogits is logits for a linear model: the mean of the features'
// folded rows plus the bias. A text without a known feature gets the
// bias alone, as W 0 + b.
func (m *Model) linearLogits(feats []uint32, z []float32) {
	k := len(z)
	// Rows first, then their sum: the table lookups do not wait on each
	// other, so their cache misses overlap.
	var rowBuf [3*maxFeatureRunes + 2]int32
	rows := rowBuf[:0]
	for _, f := range feats {
		if r := m.row(f); r >= 0 {
			rows = append(rows, r)
		}
	}
	clear(z)
	for _, r := range rows {
		row := m.folded[int(r)*k : int(r)*k+k]
		for i, v := range row {
			z[i] += v
		}
	}
	inv := float32(0)
	if n := len(rows); n > 0 {
		inv = 1 / float32(n)
	}
	for i, v := range z {
		z[i] = m.b2[i] + v*inv
	}
}

// fold sets m.folded to W times each embedding row of emb, for a linear
// model; with a hidden layer it does nothing.
func (m *Model) fold(emb []float32) {
	if m.hidden > 0 {
		return
	}
	k := len(m.labels)
	m.folded = make([]float32, m.rows*k)
	noBias := make([]float32, k)
	for r := range m.rows {
		affine(m.folded[r*k:(r+1)*k], m.w2, noBias, emb[r*m.dim:(r+1)*m.dim])
	}
}

// stackOr returns buf[:n] when it fits, else a new slice.
func stackOr(buf []float32, n int) []float32 {
	if n <= len(buf) {
		return buf[:n]
	}
	return make([]float32, n)
}

// affine sets y = W x + b, W being len(y) × len(x), row-major.
func affine(y, w, b, x []float32) {
	for i := range y {
		row := w[i*len(x) : (i+1)*len(x)]
		s := b[i]
		for j, v := range row {
			s += v * x[j]
		}
		y[i] = s
	}
}

// row returns the embedding row of feature f, or -1. A feature is a
// hash already (see combine): its low bits are its slot.
func (m *Model) row(f uint32) int32 {
	if f == 0 {
		return -1
	}
	mask := uint32(len(m.slots) - 1)
	for i := f & mask; ; i = (i + 1) & mask {
		switch s := m.slots[i]; s.key {
		case f:
			return s.row
		case 0:
			return -1
		}
	}
}

// index builds the feature table from feats (row i has feature feats[i]).
func (m *Model) index(feats []uint32) {
	size := 1
	for size < 2*len(feats) {
		size <<= 1
	}
	m.slots = make([]slot, size)
	mask := uint32(size - 1)
	for r, f := range feats {
		i := f & mask
		for m.slots[i].key != 0 {
			i = (i + 1) & mask
		}
		m.slots[i] = slot{key: f, row: int32(r)}
	}
}

// CheckLabels returns an error wrapping bot.ErrInvalid unless the model
// was trained for exactly these labels: a dataset that gained, lost or
// renamed a label needs `siyu train` before its model can be used.
func (m *Model) CheckLabels(labels []string) error {
	want := slices.Sorted(slices.Values(labels))
	if slices.Equal(m.labels, want) {
		return nil
	}
	var missing, extra []string
	for _, l := range want {
		if !slices.Contains(m.labels, l) {
			missing = append(missing, l)
		}
	}
	for _, l := range m.labels {
		if !slices.Contains(want, l) {
			extra = append(extra, l)
		}
	}
	return fmt.Errorf("nlp: model does not match the dataset (model lacks %v, dataset lacks %v); run `siyu train`: %w",
		missing, extra, bot.ErrInvalid)
}

// The model file: magic, then uvarints and little-endian numbers.
// Version 3 adds the temperature (a float32 after the hidden size);
// version 2 files, written before calibration, still load, with
// temperature 1 (their confidences are as sharp as trained). Version 4
// adds the sure thresholds after the temperature: a count (0 or the
// number of labels), then one float32 per label; version 3 files load
// without them (never sure on the model's word alone).
//
// Up to version 4 the embeddings, nearly all of the file, are int8 with
// one float32 scale per row (a quarter of float32's size; the mean of
// many rows averages the rounding out, TestSaveLoad checks), then the
// weights. Version 5 keeps that for a model with a hidden layer; a
// linear model's rows are stored folded (see Model): per row, one
// float32 per label, W times the int8-rounded row, then the bias. That
// is what inference reads, computed as loading a version 4 file
// computes it, so the two files answer alike to the bit; and with fewer
// labels than dimensions the file is smaller and loads with no work.
const (
	modelMagic   = "SIYUNLP\x05"
	modelMagicV4 = "SIYUNLP\x04"
	modelMagicV3 = "SIYUNLP\x03"
	modelMagicV2 = "SIYUNLP\x02"
)

// Save writes the model in its compact binary form.
func (m *Model) Save(w io.Writer) error {
	if err := m.save(w, 5); err != nil {
		return fmt.Errorf("nlp.Save: %w", err)
	}
	return nil
}

// save writes the model in format version 5, or 4 (for tests of older
// files: a linear model needs its embeddings then, as Train leaves
// them).
func (m *Model) save(w io.Writer, version int) error {
	bw := bufio.NewWriter(w)
	magic := modelMagic
	if version == 4 {
		if m.emb == nil || m.w2 == nil {
			return errors.New("a loaded linear model has no embeddings to write as version 4")
		}
		magic = modelMagicV4
	}
	bw.WriteString(magic)
	putUvarint(bw, uint64(len(m.labels)))
	for _, l := range m.labels {
		putUvarint(bw, uint64(len(l)))
		bw.WriteString(l)
	}
	putUvarint(bw, uint64(m.dim))
	putUvarint(bw, uint64(m.hidden))
	var t4 [4]byte
	binary.LittleEndian.PutUint32(t4[:], math.Float32bits(m.temp))
	bw.Write(t4[:])
	putFloats(bw, m.sure)
	putUvarint(bw, uint64(m.rows))
	// Feature hashes by row, delta-coded in increasing order: rows are
	// written in that order.
	feats := m.rowFeatures()
	order := make([]int, m.rows)
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return int(int64(feats[a]) - int64(feats[b])) })
	prev := uint32(0)
	for _, r := range order {
		putUvarint(bw, uint64(feats[r]-prev))
		prev = feats[r]
	}
	q := make([]byte, 4+m.dim)
	if m.hidden == 0 && version >= 5 {
		k := len(m.labels)
		var b4 [4]byte
		row, out, noBias := make([]float32, m.dim), make([]float32, k), make([]float32, k)
		for _, r := range order {
			if m.emb != nil {
				quantizeRow(q, m.emb[r*m.dim:(r+1)*m.dim])
				dequantizeRow(row, q)
				affine(out, m.w2, noBias, row)
			} else {
				copy(out, m.folded[r*k:(r+1)*k])
			}
			for _, v := range out {
				binary.LittleEndian.PutUint32(b4[:], math.Float32bits(v))
				bw.Write(b4[:])
			}
		}
		putFloats(bw, m.b2)
	} else {
		for _, r := range order {
			quantizeRow(q, m.emb[r*m.dim:(r+1)*m.dim])
			bw.Write(q)
		}
		for _, part := range [][]float32{m.w1, m.b1, m.w2, m.b2} {
			putFloats(bw, part)
		}
	}
	return bw.Flush()
}

// quantizeRow writes row into q as its scale (a float32) and one int8
// per value: row ≈ scale × q.
func quantizeRow(q []byte, row []float32) {
	var amax float32
	for _, v := range row {
		amax = max(amax, float32(math.Abs(float64(v))))
	}
	scale := amax / 127
	binary.LittleEndian.PutUint32(q, math.Float32bits(scale))
	for i, v := range row {
		if scale > 0 {
			q[4+i] = byte(int8(math.Round(float64(v / scale))))
		} else {
			q[4+i] = 0
		}
	}
}

// dequantizeRow sets row to the values quantizeRow wrote into q.
func dequantizeRow(row []float32, q []byte) {
	scale := math.Float32frombits(binary.LittleEndian.Uint32(q))
	for i, v := range q[4:] {
		row[i] = scale * float32(int8(v))
	}
}

// rowFeatures returns the feature hash of each row.
func (m *Model) rowFeatures() []uint32 {
	out := make([]uint32, m.Features())
	for _, s := range m.slots {
		if s.key != 0 {
			out[s.row] = s.key
		}
	}
	return out
}

// ReadLabels reads only the labels of a model file: enough to validate
// scripts without loading the model.
func ReadLabels(r io.Reader) ([]string, error) {
	br := bufio.NewReader(r)
	labels, _, err := readHeader(br)
	if err != nil {
		return nil, fmt.Errorf("nlp.ReadLabels: %w", err)
	}
	return labels, nil
}

// readHeader reads the magic and the labels; version is 2 to 5.
func readHeader(br *bufio.Reader) (labels []string, version int, err error) {
	magic := make([]byte, len(modelMagic))
	if _, err := io.ReadFull(br, magic); err != nil {
		return nil, 0, fmt.Errorf("not a siyu model file: %w", bot.ErrInvalid)
	}
	switch string(magic) {
	case modelMagic:
		version = 5
	case modelMagicV4:
		version = 4
	case modelMagicV3:
		version = 3
	case modelMagicV2:
		version = 2
	default:
		return nil, 0, fmt.Errorf("not a siyu model file (or a format this siyu does not read; run `siyu train`): %w", bot.ErrInvalid)
	}
	labels, err = readLabels(br)
	return labels, version, err
}

func readLabels(br *bufio.Reader) ([]string, error) {
	n, err := getUvarint(br, 1<<10)
	if err != nil {
		return nil, err
	}
	labels := make([]string, n)
	for i := range labels {
		l, err := getUvarint(br, 1<<8)
		if err != nil {
			return nil, err
		}
		b := make([]byte, l)
		if _, err := io.ReadFull(br, b); err != nil {
			return nil, corrupt(err)
		}
		labels[i] = string(b)
	}
	if len(labels) < 2 || !slices.IsSorted(labels) {
		return nil, fmt.Errorf("model labels %v: want two or more, sorted: %w", labels, bot.ErrInvalid)
	}
	return labels, nil
}

// LoadModel reads a model written by Save.
func LoadModel(r io.Reader) (*Model, error) {
	m, err := loadModel(bufio.NewReaderSize(r, 1<<16))
	if err != nil {
		return nil, fmt.Errorf("nlp.LoadModel: %w", err)
	}
	return m, nil
}

func loadModel(br *bufio.Reader) (*Model, error) {
	labels, version, err := readHeader(br)
	if err != nil {
		return nil, err
	}
	m := &Model{labels: labels, temp: 1}
	var dim, hidden, rows uint64
	if dim, err = getUvarint(br, maxStack); err == nil {
		hidden, err = getUvarint(br, maxStack)
	}
	if err == nil && version >= 3 {
		var t4 [4]byte
		if _, err = io.ReadFull(br, t4[:]); err != nil {
			err = corrupt(err)
		} else if m.temp = math.Float32frombits(binary.LittleEndian.Uint32(t4[:])); !(m.temp > 0) || math.IsInf(float64(m.temp), 0) {
			err = corrupt(fmt.Errorf("temperature %v", m.temp))
		}
	}
	if err == nil && version >= 4 {
		var n uint64
		if n, err = getUvarint(br, 1<<10); err == nil && n != 0 {
			if n != uint64(len(labels)) {
				err = corrupt(fmt.Errorf("%d sure thresholds for %d labels", n, len(labels)))
			} else {
				m.sure = make([]float32, n)
				raw := make([]byte, 4*n)
				if _, err = io.ReadFull(br, raw); err != nil {
					err = corrupt(err)
				}
				for i := range m.sure {
					m.sure[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
				}
			}
		}
	}
	if err == nil {
		rows, err = getUvarint(br, 1<<22)
	}
	if err != nil {
		return nil, err
	}
	if dim == 0 {
		return nil, fmt.Errorf("model dimension 0: %w", bot.ErrInvalid)
	}
	m.dim, m.hidden = int(dim), int(hidden)
	feats := make([]uint32, rows)
	prev := uint64(0)
	for i := range feats {
		d, err := getUvarint(br, math.MaxUint32)
		if err != nil {
			return nil, err
		}
		prev += d
		if prev > math.MaxUint32 || prev == 0 || (i > 0 && d == 0) {
			return nil, corrupt(errors.New("bad feature table"))
		}
		feats[i] = uint32(prev)
	}
	m.rows = int(rows)
	if m.hidden == 0 && version >= 5 {
		k := len(labels)
		raw := make([]byte, 4*k*m.rows)
		if _, err := io.ReadFull(br, raw); err != nil {
			return nil, corrupt(err)
		}
		m.folded = make([]float32, k*m.rows)
		for i := range m.folded {
			m.folded[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
		}
		if m.b2, err = getFloats(br, k); err != nil {
			return nil, err
		}
	} else if err := m.readRows(br); err != nil {
		return nil, err
	}
	if _, err := br.ReadByte(); err != io.EOF {
		return nil, corrupt(errors.New("trailing data"))
	}
	m.index(feats)
	return m, nil
}

// readRows reads the int8 embedding rows and the weights after them; a
// linear model keeps its rows folded only, as if read from version 5.
func (m *Model) readRows(br *bufio.Reader) error {
	rowBytes := 4 + m.dim
	raw := make([]byte, m.rows*rowBytes)
	if _, err := io.ReadFull(br, raw); err != nil {
		return corrupt(err)
	}
	emb := make([]float32, m.rows*m.dim)
	for r := range m.rows {
		dequantizeRow(emb[r*m.dim:(r+1)*m.dim], raw[r*rowBytes:(r+1)*rowBytes])
	}
	var err error
	in := m.dim
	if m.hidden > 0 {
		in = m.hidden
		if m.w1, err = getFloats(br, m.hidden*m.dim); err != nil {
			return err
		}
		if m.b1, err = getFloats(br, m.hidden); err != nil {
			return err
		}
	} else {
		for range 2 { // the empty hidden layer
			if _, err := getFloats(br, 0); err != nil {
				return err
			}
		}
	}
	if m.w2, err = getFloats(br, len(m.labels)*in); err != nil {
		return err
	}
	if m.b2, err = getFloats(br, len(m.labels)); err != nil {
		return err
	}
	if m.hidden > 0 {
		m.emb = emb
		return nil
	}
	m.fold(emb)
	m.w2 = nil
	return nil
}

func corrupt(err error) error {
	if errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("corrupt model file: %v: %w", err, bot.ErrInvalid)
}

func putUvarint(w *bufio.Writer, v uint64) {
	var b [binary.MaxVarintLen64]byte
	w.Write(b[:binary.PutUvarint(b[:], v)])
}

func getUvarint(br *bufio.Reader, max uint64) (uint64, error) {
	v, err := binary.ReadUvarint(br)
	if err != nil {
		return 0, corrupt(err)
	}
	if v > max {
		return 0, corrupt(fmt.Errorf("value %d out of range", v))
	}
	return v, nil
}

func putFloats(w *bufio.Writer, fs []float32) {
	putUvarint(w, uint64(len(fs)))
	var b [4]byte
	for _, f := range fs {
		binary.LittleEndian.PutUint32(b[:], math.Float32bits(f))
		w.Write(b[:])
	}
}

func getFloats(br *bufio.Reader, want int) ([]float32, error) {
	n, err := getUvarint(br, 1<<24)
	if err != nil {
		return nil, err
	}
	if int(n) != want {
		return nil, corrupt(fmt.Errorf("%d weights, want %d", n, want))
	}
	raw := make([]byte, 4*n)
	if _, err := io.ReadFull(br, raw); err != nil {
		return nil, corrupt(err)
	}
	out := make([]float32, n)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
	}
	return out, nil
}
