// Not Go: this marks the console's npm project (and its node_modules) as
// outside the product's module, so `go build ./...` and `go vet ./...`
// never look into it.
module github.com/calicong/calico/internal/manager/web/app

go 1.26.0
