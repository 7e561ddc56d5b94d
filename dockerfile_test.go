package main

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestDockerfileDataWritable: the runtime image's SQLite folder belongs
// to the user siyu runs as, so siyu.db can be created there. There is no
// Docker in CI, so the Dockerfile is read: the last stage must give /data
// to nonroot (uid 65532) before USER, and put SIYU_SQLITE in it.
func TestDockerfileDataWritable(t *testing.T) {
	b, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	stages := regexp.MustCompile(`(?m)^FROM `).Split(string(b), -1)
	final := stages[len(stages)-1]
	user := strings.Index(final, "\nUSER nonroot")
	if user < 0 {
		t.Fatal("the runtime stage does not switch to USER nonroot")
	}
	owned := regexp.MustCompile(`(?m)^COPY [^\n]*--chown=(65532|nonroot)(:(65532|nonroot))? [^\n]* /data/?$`).FindStringIndex(final)
	if owned == nil || owned[0] > user {
		t.Errorf("/data is not given to nonroot before USER nonroot:\n%s", final)
	}
	if !strings.Contains(final, "SIYU_SQLITE=/data/") {
		t.Errorf("SIYU_SQLITE does not point into /data:\n%s", final)
	}
}
