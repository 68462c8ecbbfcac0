FROM alpine
RUN ["echo", "exec form"]
RUN echo shell form
RUN [ "$HOME" ]
CMD ["a", "b c"]
CMD a "b c"
ENTRYPOINT ["/bin/x"]
ENTRYPOINT /bin/x -y
