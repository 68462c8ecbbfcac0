# escape=`
FROM alpine
RUN <<EOF
echo `
still here
EOF
RUN echo a `
    b
