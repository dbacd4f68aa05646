package infrastructure

import "testing"

func TestInteger(t *testing.T) {
	values := map[string]any{
		"json": int64(3), "proto": float64(4), "fraction": 1.5, "huge": 1e30, "text": "two",
		"nested": map[string]any{"n": float64(2)}, "scalar": "x",
	}
	cases := map[string]struct {
		path    []string
		want    int64
		found   bool
		wantErr bool
	}{
		"FromJSON":          {path: []string{"json"}, want: 3, found: true},
		"FromProtobuf":      {path: []string{"proto"}, want: 4, found: true},
		"Nested":            {path: []string{"nested", "n"}, want: 2, found: true},
		"Absent":            {path: []string{"absent"}},
		"ThroughAScalar":    {path: []string{"scalar", "n"}},
		"Fraction":          {path: []string{"fraction"}, found: true, wantErr: true},
		"BeyondInt64":       {path: []string{"huge"}, found: true, wantErr: true},
		"NotANumber":        {path: []string{"text"}, found: true, wantErr: true},
		"AbsentUnderNested": {path: []string{"nested", "m"}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got, found, err := Integer(values, tc.path...)
			if got != tc.want || found != tc.found || (err != nil) != tc.wantErr {
				t.Errorf("Integer(%v) = %d, %t, %v; want %d, %t, error %t", tc.path, got, found, err, tc.want, tc.found, tc.wantErr)
			}
		})
	}
}
