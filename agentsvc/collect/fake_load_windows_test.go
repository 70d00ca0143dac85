package collect

type fakeLoad struct{}
