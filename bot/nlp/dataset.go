package nlp

import (
	"bufio"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"path"
	"slices"
	"strings"

	"github.com/siyu-bot/siyu/bot"
)

// Example is one labelled line of a dataset.
type Example struct {
	Text  string
	Label string
}

// ReadDataset reads dir/<label>.txt files from fsys: one example per
// line, blank lines and lines starting with # skipped. The label is the
// file name; label names are lower-case letters, digits and _. A
// dataset needs two labels or more.
func ReadDataset(fsys fs.FS, dir string) ([]Example, error) {
	labels, err := DatasetLabels(fsys, dir)
	if err != nil {
		return nil, err
	}
	var out []Example
	for _, l := range labels {
		p := path.Join(dir, l+".txt")
		f, err := fsys.Open(p)
		if err != nil {
			return nil, fmt.Errorf("nlp.ReadDataset: %w", err)
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		n := 0
		for line := 1; sc.Scan(); line++ {
			t := strings.TrimSpace(sc.Text())
			if t == "" || strings.HasPrefix(t, "#") {
				continue
			}
			out = append(out, Example{Text: t, Label: l})
			n++
		}
		err = sc.Err()
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("nlp.ReadDataset %s: %w", p, err)
		}
		if n == 0 {
			return nil, fmt.Errorf("nlp.ReadDataset %s: no examples: %w", p, bot.ErrInvalid)
		}
	}
	return out, nil
}

// DatasetLabels returns the labels of the dataset in dir (the names of
// its .txt files), sorted, without reading the examples.
func DatasetLabels(fsys fs.FS, dir string) ([]string, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("nlp.ReadDataset: %w", err)
	}
	var labels []string
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".txt")
		if e.IsDir() || !ok {
			continue
		}
		if !validLabel(name) {
			return nil, fmt.Errorf("nlp.ReadDataset %s: label names are lower-case letters, digits and _: %w", path.Join(dir, e.Name()), bot.ErrInvalid)
		}
		labels = append(labels, name)
	}
	if len(labels) < 2 {
		return nil, fmt.Errorf("nlp.ReadDataset %s: %d labels, want two or more <label>.txt files: %w", dir, len(labels), bot.ErrInvalid)
	}
	slices.Sort(labels)
	return labels, nil
}

func validLabel(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, c := range []byte(s) {
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// Split shuffles examples with seed and keeps about fraction of each
// label apart (at least one per label when it has two or more), for
// measuring a model on lines it did not learn from.
func Split(examples []Example, fraction float64, seed uint64) (train, held []Example) {
	byLabel := map[string][]Example{}
	var labels []string
	for _, e := range examples {
		if _, ok := byLabel[e.Label]; !ok {
			labels = append(labels, e.Label)
		}
		byLabel[e.Label] = append(byLabel[e.Label], e)
	}
	slices.Sort(labels)
	rng := rand.New(rand.NewPCG(seed, 0x5349_5955))
	for _, l := range labels {
		es := slices.Clone(byLabel[l])
		rng.Shuffle(len(es), func(i, j int) { es[i], es[j] = es[j], es[i] })
		k := int(float64(len(es))*fraction + 0.5)
		if k == 0 && fraction > 0 && len(es) > 1 {
			k = 1
		}
		held = append(held, es[:k]...)
		train = append(train, es[k:]...)
	}
	return train, held
}
