FROM alpine
RUN ["echo", "unterminated"
CMD [ 'single', 'quotes' ]
