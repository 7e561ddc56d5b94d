// Package feedback is how siyu learns from a brand's own traffic: a risk
// alert staff dismiss as a false alarm, one they acknowledge, and a
// dry-run whose intent they correct each become a labelled line, masked,
// that staff export into knowledge/<dataset>/sources/brand/<label>.txt
// (the format every source of knowledge/SOURCES.md has: one message per
// line, the file name is the label) and train on with `siyu train`.
//
// Lines are masked when they are kept, never later: risk's detectors
// (phone, ID card, bank card, email, passport numbers, as risk events
// store them) and then this package's own pass, which replaces any run of
// seven digits or more, e-mail addresses, links, @-mentions, written
// names (姓名：…, 收件人 …, 我叫 …) and street addresses (with the
// few characters before a street's name, which a pattern cannot tell
// from it). Where a line
// came from is not kept in the line (no customer ids, no times).
package feedback

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/siyu-bot/siyu/bot"
)

// Line is one labelled message as kept and exported.
type Line struct {
	Dataset string
	Label   string
	// Text is the message, masked.
	Text string
	// Source is what staff did (bot.SourceRiskDismissed, …).
	Source string
	// Was is what siyu had read.
	Was string
	// Key names the line's origin; a new label of the same origin
	// replaces the line.
	Key string
	At  time.Time
}

// Store keeps the labelled lines. sqlstore.Feedback implements it.
type Store interface {
	// Put keeps l, replacing the line with the same Key. Errors are
	// bot.ErrUnavailable.
	Put(ctx context.Context, l Line) error
	// Lines returns up to limit lines of dataset, the latest first.
	// Errors are bot.ErrUnavailable.
	Lines(ctx context.Context, dataset string, limit int) ([]Line, error)
}

// Config wires a Service.
type Config struct {
	Store Store
	// Labels are each dataset's labels ("intents": the intent model's,
	// "risk": risk.Labels()); a line of another dataset or label is
	// refused.
	Labels map[string][]string
	// Mask masks personal data first (risk's detectors: Scanner.MaskPII);
	// nil: only this package's own pass.
	Mask   func(text string) string
	Now    func() time.Time
	Logger *slog.Logger
}

// Service keeps labelled lines and exports them. It is a capability only
// so that the staff console finds it: it adds nothing to the engine.
type Service struct {
	cfg Config
}

// Interface guards.
var (
	_ bot.Learner    = (*Service)(nil)
	_ bot.Capability = (*Service)(nil)
)

// New returns a Service.
func New(cfg Config) *Service {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Service{cfg: cfg}
}

// Install adds nothing to the stack: feedback has no stage.
func (s *Service) Install(*bot.Stack) error { return nil }

// MaxRunes bounds a kept line: longer messages are cut (the public
// sources of knowledge/SOURCES.md were kept to 300 characters; a risky
// clause rarely sits past 500).
const MaxRunes = 500

// Learn implements bot.Learner: it masks l.Text and keeps it under l.Key.
func (s *Service) Learn(ctx context.Context, l bot.Labelled) error {
	labels, ok := s.cfg.Labels[l.Dataset]
	switch {
	case !ok:
		return fmt.Errorf("feedback.Learn: unknown dataset %q: %w", l.Dataset, bot.ErrInvalid)
	case !slices.Contains(labels, l.Label):
		return fmt.Errorf("feedback.Learn: %q is not a label of %s (%s): %w", l.Label, l.Dataset, strings.Join(labels, ", "), bot.ErrInvalid)
	case s.cfg.Store == nil:
		return fmt.Errorf("feedback.Learn: no store: %w", bot.ErrUnavailable)
	}
	text := l.Text
	if s.cfg.Mask != nil {
		text = s.cfg.Mask(text)
	}
	text = Mask(text)
	if text == "" {
		return fmt.Errorf("feedback.Learn: empty text: %w", bot.ErrInvalid)
	}
	key := l.Key
	if key == "" {
		key = l.Dataset + ":" + digest(text)
	}
	line := Line{Dataset: l.Dataset, Label: l.Label, Text: text, Source: l.Source, Was: l.Was, Key: key, At: s.cfg.Now()}
	if err := s.cfg.Store.Put(ctx, line); err != nil {
		return fmt.Errorf("feedback.Learn: %w", err)
	}
	s.cfg.Logger.InfoContext(ctx, "feedback: labelled line kept", "dataset", l.Dataset, "label", l.Label, "source", l.Source)
	return nil
}

// IntentsDataset is the knowledge/ dataset of the intent model.
const IntentsDataset = "intents"

// Correct keeps text as a line of intent: staff corrected the intent a
// dry-run read (was). Correcting the same text again replaces its line.
// It returns the line as kept (masked). Errors: bot.ErrInvalid for an
// unknown intent or an empty text.
func (s *Service) Correct(ctx context.Context, text, intent, was string) (Line, error) {
	l := bot.Labelled{Dataset: IntentsDataset, Label: intent, Text: text, Source: bot.SourceIntentCorrected, Was: was}
	masked := Mask(text)
	if s.cfg.Mask != nil {
		masked = Mask(s.cfg.Mask(text))
	}
	// Keyed by the masked text: the same message corrected twice is one
	// line, with the later intent.
	l.Key = IntentsDataset + ":" + digest(masked)
	if err := s.Learn(ctx, l); err != nil {
		return Line{}, err
	}
	return Line{Dataset: l.Dataset, Label: l.Label, Text: masked, Source: l.Source, Was: was, Key: l.Key, At: s.cfg.Now()}, nil
}

// Labels returns the labels of dataset, and reports whether it is known.
func (s *Service) Labels(dataset string) ([]string, bool) {
	l, ok := s.cfg.Labels[dataset]
	return l, ok
}

// Lines returns up to limit kept lines of dataset, the latest first.
func (s *Service) Lines(ctx context.Context, dataset string, limit int) ([]Line, error) {
	if _, ok := s.cfg.Labels[dataset]; !ok {
		return nil, fmt.Errorf("feedback.Lines: unknown dataset %q: %w", dataset, bot.ErrInvalid)
	}
	if s.cfg.Store == nil {
		return nil, nil
	}
	lines, err := s.cfg.Store.Lines(ctx, dataset, limit)
	if err != nil {
		return nil, fmt.Errorf("feedback.Lines: %w", err)
	}
	return lines, nil
}

// File is one exported file: its path under knowledge/ and its content.
type File struct {
	Path  string // <dataset>/sources/brand/<label>.txt
	Label string
	Lines int
	Data  []byte
}

// maxExport bounds an export: a brand's reviews and corrections run to
// thousands of lines, and this keeps one request's memory to a few MB.
const maxExport = 20000

// Export returns dataset's lines as the files knowledge/ training reads,
// one per label with lines, in label order. A message labelled more than
// once (the same masked text from two events, or relabelled) appears
// once: under its latest label, except that for risk a category staff
// confirmed beats none (a message acknowledged as abuse and dismissed as
// fraud is abuse, not ordinary).
func (s *Service) Export(ctx context.Context, dataset string) ([]File, error) {
	lines, err := s.Lines(ctx, dataset, maxExport)
	if err != nil {
		return nil, err
	}
	labelOf := map[string]string{}
	var order []string // texts, oldest first
	for i := len(lines) - 1; i >= 0; i-- {
		l := lines[i]
		prev, seen := labelOf[l.Text]
		if !seen {
			order = append(order, l.Text)
		}
		if seen && dataset == "risk" && prev != "none" && l.Label == "none" {
			continue
		}
		labelOf[l.Text] = l.Label
	}
	byLabel := map[string][]string{}
	for _, t := range order {
		byLabel[labelOf[t]] = append(byLabel[labelOf[t]], t)
	}
	labels := s.cfg.Labels[dataset]
	now := s.cfg.Now()
	var out []File
	for _, label := range slices.Sorted(slices.Values(labels)) {
		texts := byLabel[label]
		if len(texts) == 0 {
			continue
		}
		var b bytes.Buffer
		fmt.Fprintf(&b, "# %s/sources/brand/%s.txt: %d lines labelled by staff, exported from siyu %s (masked; see knowledge/SOURCES.md)\n",
			dataset, label, len(texts), now.UTC().Format("2006-01-02"))
		for _, t := range texts {
			b.WriteString(t)
			b.WriteByte('\n')
		}
		out = append(out, File{Path: dataset + "/sources/brand/" + label + ".txt", Label: label, Lines: len(texts), Data: b.Bytes()})
	}
	return out, nil
}

// Zip writes files as a zip archive whose paths unpack into knowledge/.
func Zip(files []File, modified time.Time) ([]byte, error) {
	var buf bytes.Buffer
	w := zip.NewWriter(&buf)
	for _, f := range files {
		fw, err := w.CreateHeader(&zip.FileHeader{Name: f.Path, Method: zip.Deflate, Modified: modified})
		if err != nil {
			return nil, fmt.Errorf("feedback.Zip: %w", err)
		}
		if _, err := fw.Write(f.Data); err != nil {
			return nil, fmt.Errorf("feedback.Zip: %w", err)
		}
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("feedback.Zip: %w", err)
	}
	return buf.Bytes(), nil
}

// The masking pass, in order: what contains an @ (an e-mail) before an
// @-mention; a link before the numbers in it.
var maskers = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`(?i)(?:https?://|www\.)[^\s\p{Han}，。！？]+`), "[链接]"},
	{regexp.MustCompile(`[A-Za-z0-9._%+*\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}`), "[邮箱]"},
	{regexp.MustCompile(`[@＠][^\s@＠，。！？,.!?:：]{1,20}`), "@某人"},
	// Seven digits or more, spaces and dashes between them allowed: phone,
	// order, card and ID numbers alike (siyu train refuses a brand line
	// with 11 digits in a row; this never leaves 7).
	{regexp.MustCompile(`[0-9０-９](?:[\s\-－]?[0-9０-９]){6,}[Xx]?`), "[号码]"},
	{regexp.MustCompile(`((?:姓名|名字|收件人|收货人|联系人|我叫)\s*[:：]?\s*)\p{Han}{2,4}`), "${1}[姓名]"},
	{regexp.MustCompile(`\p{Han}{2,5}(?:路|街|大道|巷|弄|胡同)\s*[0-9０-９]+\s*号(?:\s*[0-9０-９]+\s*(?:栋|幢|号楼|单元|楼|层|室|号))*`), "[地址]"},
	{regexp.MustCompile(`[0-9０-９]+\s*(?:栋|幢|号楼)\s*[0-9０-９]+\s*(?:单元\s*[0-9０-９]+\s*)?(?:室|号)?`), "[地址]"},
}

var spaces = regexp.MustCompile(`\s+`)

// Mask returns text as a line that may be kept and trained on: personal
// data the patterns know replaced (see maskers), one line (line breaks
// and runs of spaces become one space), trimmed, a leading # made
// full-width (a # line is a comment in knowledge/), at most MaxRunes
// runes.
func Mask(text string) string {
	for _, m := range maskers {
		text = m.re.ReplaceAllString(text, m.with)
	}
	text = strings.TrimSpace(spaces.ReplaceAllString(text, " "))
	if strings.HasPrefix(text, "#") {
		text = "＃" + text[1:]
	}
	if utf8.RuneCountInString(text) > MaxRunes {
		r := []rune(text)
		text = string(r[:MaxRunes])
	}
	return strings.ToValidUTF8(text, "")
}

// digest names a text without holding it.
func digest(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:16])
}
