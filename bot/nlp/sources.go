package nlp

import (
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"math/rand/v2"
	"path"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/siyu-bot/siyu/bot"
)

// SeedSource is the name of the source made of a dataset's own
// train/, calib/ and heldout/ folders: the lines siyu started with, all
// written by one hand.
const SeedSource = "seed"

// BrandSource is the name of the source a brand exports from its own
// traffic (knowledge/<dataset>/sources/brand/<label>.txt): false alarms
// staff dismissed, alerts they confirmed, intents they corrected. It is
// read like any other source; see docs/nlp.md, "Learning from traffic".
const BrandSource = "brand"

// Source is one independent origin of labelled lines: a public corpus,
// one writer, the seed lines, a brand's own traffic. Sources are kept
// apart so that a model can be measured on a source it never learned
// from (LeaveOneSourceOut), which is what a new brand's customers look
// like.
type Source struct {
	Name string
	// Train are the lines a model may learn from.
	Train []Example
	// Fit and Report are the source's lines when it is held out: Fit
	// fits the temperature and the sure thresholds, Report is what the
	// evaluation reports. They never overlap. For the seed source, Train
	// is train/, Fit is calib/ and Report is heldout/; for any other
	// source all its lines are Train, and a hash of each line puts a
	// third of them in Fit and the rest in Report.
	Fit, Report []Example
}

// ReadSources reads the sources of dataset dir in fsys: the seed source
// (dir/train, dir/calib and dir/heldout, the last two optional) and every
// folder dir/sources/<name>/ of <label>.txt files (one line per example,
// # comments, as ReadDataset). A source's labels must be labels of
// dir/train, except in the seed's heldout/ (risk's pii, which detectors
// find, is measured but never learned); a source may lack labels. A line
// of the brand source with a run of 11 digits or more is refused:
// exported traffic must be masked (phone, ID and bank card numbers all
// have 11 digits or more); writers' invented numbers are left as written.
func ReadSources(fsys fs.FS, dir string) ([]Source, error) {
	labels, err := DatasetLabels(fsys, path.Join(dir, "train"))
	if err != nil {
		return nil, fmt.Errorf("nlp.ReadSources: %w", err)
	}
	seed := Source{Name: SeedSource}
	if seed.Train, err = ReadDataset(fsys, path.Join(dir, "train")); err != nil {
		return nil, fmt.Errorf("nlp.ReadSources: %w", err)
	}
	if seed.Fit, err = readOptional(fsys, path.Join(dir, "calib")); err != nil {
		return nil, fmt.Errorf("nlp.ReadSources: %w", err)
	}
	if seed.Report, err = readOptional(fsys, path.Join(dir, "heldout")); err != nil {
		return nil, fmt.Errorf("nlp.ReadSources: %w", err)
	}
	out := []Source{seed}
	entries, err := fs.ReadDir(fsys, path.Join(dir, "sources"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("nlp.ReadSources: %w", err)
	}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		name := e.Name()
		sdir := path.Join(dir, "sources", name)
		if !validLabel(name) || name == SeedSource {
			return nil, fmt.Errorf("nlp.ReadSources %s: source names are lower-case letters, digits and _, and not %q: %w", sdir, SeedSource, bot.ErrInvalid)
		}
		lines, err := readLabelled(fsys, sdir)
		if err != nil {
			return nil, fmt.Errorf("nlp.ReadSources: %w", err)
		}
		if len(lines) == 0 {
			continue // an empty folder: a brand that has exported nothing yet
		}
		src := Source{Name: name, Train: lines}
		for _, ex := range lines {
			if !slices.Contains(labels, ex.Label) {
				return nil, fmt.Errorf("nlp.ReadSources %s/%s.txt: %q is not a label of %s/train (%s): %w", sdir, ex.Label, ex.Label, dir, strings.Join(labels, ", "), bot.ErrInvalid)
			}
			if name == BrandSource && unmasked(ex.Text) {
				return nil, fmt.Errorf("nlp.ReadSources %s/%s.txt: a line has a number of 11 digits or more (%q…): mask personal data before exporting: %w", sdir, ex.Label, prefix(ex.Text, 6), bot.ErrInvalid)
			}
			if fitShare(ex.Text) {
				src.Fit = append(src.Fit, ex)
			} else {
				src.Report = append(src.Report, ex)
			}
		}
		out = append(out, src)
	}
	return out, nil
}

// readOptional reads a dataset folder, nil when it does not exist.
func readOptional(fsys fs.FS, dir string) ([]Example, error) {
	es, err := ReadDataset(fsys, dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return es, err
}

// readLabelled reads every <label>.txt of dir, allowing a single label
// and empty files (a source may cover one label, a brand may have
// exported nothing yet).
func readLabelled(fsys fs.FS, dir string) ([]Example, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, err
	}
	var out []Example
	for _, e := range entries {
		label, ok := strings.CutSuffix(e.Name(), ".txt")
		if e.IsDir() || !ok {
			continue
		}
		if !validLabel(label) {
			return nil, fmt.Errorf("%s: label names are lower-case letters, digits and _: %w", path.Join(dir, e.Name()), bot.ErrInvalid)
		}
		b, err := fs.ReadFile(fsys, path.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		for _, line := range strings.Split(string(b), "\n") {
			t := strings.TrimSpace(line)
			if t == "" || strings.HasPrefix(t, "#") {
				continue
			}
			out = append(out, Example{Text: t, Label: label})
		}
	}
	return out, nil
}

// unmasked reports whether s has a run of 11 digits or more.
func unmasked(s string) bool {
	run := 0
	for i := 0; i < len(s); i++ {
		if '0' <= s[i] && s[i] <= '9' {
			if run++; run >= 11 {
				return true
			}
		} else {
			run = 0
		}
	}
	return false
}

func prefix(s string, runes int) string {
	for i := range s {
		if runes == 0 {
			return s[:i]
		}
		runes--
	}
	return s
}

// fitShare reports whether a line of a held-out source fits the
// temperature and thresholds (a third of the lines, by a hash of the
// text, so that the split does not move when lines are added).
func fitShare(text string) bool {
	h := fnv.New32a()
	h.Write([]byte(text))
	return h.Sum32()%3 == 0
}

// Augment returns n synthetic long lines made from examples, to teach a
// model that a real message mixes ordinary words with what it means: each
// joins one or two short filler lines (of the filler labels) with a line
// of another label, in either order, and keeps that line's label; some
// join fillers only and take background's label. Fillers are at most 16
// characters. Use it on training lines only: a synthetic line built from
// a line that is reported would leak it. Deterministic for a seed.
func Augment(examples []Example, background string, fillerLabels []string, n int, seed uint64) []Example {
	var fillers, quiet, bases []Example // quiet: fillers of background
	for _, e := range examples {
		if slices.Contains(fillerLabels, e.Label) {
			if utf8.RuneCountInString(e.Text) <= 16 {
				fillers = append(fillers, e)
				if e.Label == background {
					quiet = append(quiet, e)
				}
			}
			if e.Label != background {
				continue
			}
		}
		bases = append(bases, e)
	}
	if len(fillers) == 0 || len(bases) == 0 || n <= 0 {
		return nil
	}
	rng := rand.New(rand.NewPCG(seed, 0x4C4F_4E47))
	seps := []string{"，", "。", "！", " ", "？", "～", ",", "。。", "\n"}
	out := make([]Example, 0, n)
	for range n {
		b := bases[rng.IntN(len(bases))]
		from := fillers
		if b.Label == background {
			// A background line with a greeting is not background: keep
			// its fillers to background lines.
			if from = quiet; len(from) == 0 {
				continue
			}
		}
		parts := []string{b.Text}
		for k := 1 + rng.IntN(2); k > 0; k-- {
			f := from[rng.IntN(len(from))].Text
			if rng.IntN(2) == 0 {
				parts = append([]string{f}, parts...)
			} else {
				parts = append(parts, f)
			}
		}
		var sb strings.Builder
		for i, p := range parts {
			if i > 0 {
				sb.WriteString(seps[rng.IntN(len(seps))])
			}
			sb.WriteString(p)
		}
		out = append(out, Example{Text: sb.String(), Label: b.Label})
	}
	return out
}
