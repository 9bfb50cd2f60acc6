package lab_test

import (
	"encoding/json"
	"os/exec"
)

func jsonUnmarshal(data []byte, v any) error { return json.Unmarshal(data, v) }

func run(bin string, args ...string) (string, error) {
	out, err := exec.Command(bin, args...).CombinedOutput()
	return string(out), err
}
