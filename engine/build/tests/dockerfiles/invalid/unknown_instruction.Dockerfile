FROM alpine

RUNCMD echo hi
