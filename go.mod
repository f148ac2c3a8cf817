module github.com/plba/plba

go 1.26
