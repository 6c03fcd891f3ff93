package inspect

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pretext-dev/pretext/transforms"
)

// The dataset contract, the tasks, the inspector and the trainer link no
// Beam: only pipelines/, sinks/beamsink and cmd/ do (docs/architecture.md).
func TestNoBeamBelowPipelines(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	out, err := exec.Command("go", "list", "-deps", "../trainer/...", "../inspect/...", "../transforms/...", "../sinks").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	var beam []string
	for _, p := range strings.Fields(string(out)) {
		if strings.HasPrefix(p, "github.com/apache/beam/") {
			beam = append(beam, p)
		}
	}
	if len(beam) > 0 {
		t.Errorf("%d Beam packages linked by trainer/, inspect/, transforms/ or sinks: %v", len(beam), beam)
	}
}

// No pipeline, inspector or trainer file spells a task's name: they reach
// tasks through the registries and the name constants of the modality
// packages. Tests and trainer/internal/shardtest (test support) may.
func TestNoTaskNamesInStages(t *testing.T) {
	names := transforms.Names("")
	if len(names) < 7 {
		t.Fatalf("only %d tasks registered: %v", len(names), names)
	}
	var found []string
	for _, root := range []string{"../pipelines", "../inspect", "../trainer"} {
		err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && (d.Name() == "testdata" || d.Name() == "shardtest") {
				return filepath.SkipDir
			}
			if d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
				return nil
			}
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			for i, line := range strings.Split(string(data), "\n") {
				for _, n := range names {
					if strings.Contains(line, `"`+n+`"`) || strings.Contains(line, "`"+n+"`") {
						found = append(found, fmt.Sprintf("%s:%d: %s", p, i+1, strings.TrimSpace(line)))
					}
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if len(found) > 0 {
		t.Errorf("task names spelled outside the task packages:\n%s", strings.Join(found, "\n"))
	}
}
