FROM alpine
LABEL empty="" other=
