package admin

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/siyu-bot/siyu/bot/feedback"
)

// FeedbackLine is one labelled line as staff see it: masked, with no
// customer id.
type FeedbackLine struct {
	Dataset   string    `json:"dataset"`
	Label     string    `json:"label"`
	Text      string    `json:"text"`
	Source    string    `json:"source"`
	Was       string    `json:"was,omitempty"`
	UpdatedAt time.Time `json:"updated_at"`
}

// FeedbackFile is one exported file: its path under knowledge/ and its
// content, one message per line.
type FeedbackFile struct {
	Path  string
	Label string
	Data  []byte
}

// FeedbackLines is what the feedback module needs: the labelled lines of
// the brand's traffic (risk events staff reviewed, corrected dry-runs).
type FeedbackLines interface {
	// Lines returns up to limit lines of dataset ("intents", "risk"), the
	// latest first. An unknown dataset is bot.ErrInvalid.
	Lines(ctx context.Context, dataset string, limit int) ([]FeedbackLine, error)
	// Export returns dataset's lines as the files knowledge/ training
	// reads, one per label.
	Export(ctx context.Context, dataset string) ([]FeedbackFile, error)
	// Correct keeps text as a line of intent, which a dry-run read as
	// was. An unknown intent or an empty text is bot.ErrInvalid.
	Correct(ctx context.Context, text, intent, was string) (FeedbackLine, error)
}

// Feedback is the learning module: staff correct a dry-run's intent,
// list the labelled lines and export them into knowledge/.
type Feedback struct {
	lines FeedbackLines
	now   func() time.Time
}

// NewFeedback returns the feedback module over lines.
func NewFeedback(lines FeedbackLines) *Feedback { return &Feedback{lines: lines, now: time.Now} }

// Name returns "feedback".
func (*Feedback) Name() string { return "feedback" }

// Register mounts GET /lines, GET /export and POST /corrections.
func (m *Feedback) Register(g *echo.Group) {
	g.GET("/lines", m.list)
	g.GET("/export", m.export)
	g.POST("/corrections", m.correct)
}

func (m *Feedback) list(c echo.Context) error {
	limit, _ := strconv.Atoi(c.QueryParam("limit"))
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	lines, err := m.lines.Lines(c.Request().Context(), c.QueryParam("dataset"), limit)
	if err != nil {
		return err
	}
	if lines == nil {
		lines = []FeedbackLine{}
	}
	return c.JSON(http.StatusOK, map[string]any{"lines": lines})
}

// export answers GET /export?dataset=intents|risk: a zip of
// <dataset>/sources/brand/<label>.txt files to unpack into knowledge/,
// or with &label=<label> that one file as text.
func (m *Feedback) export(c echo.Context) error {
	dataset := c.QueryParam("dataset")
	if dataset == "" {
		return echo.NewHTTPError(http.StatusBadRequest, "dataset 必填：intents 或 risk")
	}
	files, err := m.lines.Export(c.Request().Context(), dataset)
	if err != nil {
		return err
	}
	if label := c.QueryParam("label"); label != "" {
		for _, f := range files {
			if f.Label == label {
				c.Response().Header().Set(echo.HeaderContentDisposition, `attachment; filename="`+label+`.txt"`)
				return c.Blob(http.StatusOK, "text/plain; charset=utf-8", f.Data)
			}
		}
		return echo.NewHTTPError(http.StatusNotFound, fmt.Sprintf("%s 里没有标为 %s 的句子", dataset, label))
	}
	fs := make([]feedback.File, len(files))
	for i, f := range files {
		fs[i] = feedback.File{Path: f.Path, Label: f.Label, Data: f.Data}
	}
	z, err := feedback.Zip(fs, m.now())
	if err != nil {
		return fmt.Errorf("admin.Feedback.export: %w", err)
	}
	c.Response().Header().Set(echo.HeaderContentDisposition, `attachment; filename="siyu-brand-`+dataset+`.zip"`)
	return c.Blob(http.StatusOK, "application/zip", z)
}

// maxCorrectionText bounds a correction like the dry-run's text.
const maxCorrectionText = maxDryRunText

// correct answers POST /corrections {"text","intent","was"}: staff say
// which intent a dry-run's message really has. The line is kept masked.
func (m *Feedback) correct(c echo.Context) error {
	var req struct {
		Text   string `json:"text"`
		Intent string `json:"intent"`
		Was    string `json:"was"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(c.Response(), c.Request().Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, "请求体应为 JSON：{\"text\",\"intent\",\"was\"}")
	}
	req.Text = strings.TrimSpace(req.Text)
	switch {
	case req.Text == "":
		return echo.NewHTTPError(http.StatusBadRequest, "text 不能为空")
	case utf8.RuneCountInString(req.Text) > maxCorrectionText:
		return echo.NewHTTPError(http.StatusBadRequest, fmt.Sprintf("text 不能超过 %d 字", maxCorrectionText))
	case req.Intent == "":
		return echo.NewHTTPError(http.StatusBadRequest, "intent 不能为空")
	}
	line, err := m.lines.Correct(c.Request().Context(), req.Text, req.Intent, req.Was)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, line)
}
