FROM alpine
RUN ["echo", "hi"] <<EOF
CMD ["a", "b"] trailing words
ENTRYPOINT ["x"]]
